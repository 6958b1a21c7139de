import { existsSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'

/** Debian's Chromium; PUNCHR_TEST_CHROMIUM names another. */
export const CHROMIUM = process.env.PUNCHR_TEST_CHROMIUM ?? '/usr/bin/chromium'

/** Headless Chromium. A missing browser fails the suite rather than skipping it, with what to install. */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set PUNCHR_TEST_CHROMIUM)`)
  return chromium.launch({
    executablePath: CHROMIUM,
    // Chromium refuses to start its sandbox as root (CI runs as root).
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  })
}

/**
 * A page (1280×900, UTC) whose script errors and console errors (a failed load, a script the
 * Content-Security-Policy blocked) are pushed to `problems`, but for console errors that
 * `expected` matches (a test that provokes a 401, say).
 */
export async function openPage(browser: Browser, problems: string[], expected?: RegExp): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC' })
  page.on('pageerror', (err) => problems.push(`error in the page: ${err.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error' && !(expected?.test(message.text()) ?? false))
      problems.push(message.text())
  })
  return page
}

/** What the dashboard tests touch of the page's globals (this file is compiled without the DOM's types). */
interface PageGlobals {
  document: { body: { dataset: Record<string, string | undefined> } }
}

/** Runs `action` and waits until the dashboard has loaded its data again (ready or error). */
export async function reload(page: Page, action: () => Promise<unknown>): Promise<string> {
  await page.evaluate(() => {
    ;(globalThis as unknown as PageGlobals).document.body.dataset.state = 'stale'
  })
  await action()
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 15_000 })
  return (await page.getAttribute('body', 'data-state')) ?? ''
}
