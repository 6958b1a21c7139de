// The tray's menu lines from the view. Ids are fixed (the helper knows items by them) and
// only lines that changed are sent again, so an open menu does not flicker every poll.
import type { HelperIcon, HelperItem } from './helper.js'
import { iconBase64 } from './icons.js'
import type { TrayView } from './view.js'

export const ITEM = {
  headline: 1,
  lastRound: 2,
  today: 3,
  toggle: 5,
  statusPage: 6,
  myResults: 7,
  apiKey: 8,
  launchOnLogin: 9,
  quit: 11,
} as const

/** What the toggle says. */
export const START_TITLE = 'Start measuring'
export const STOP_TITLE = 'Stop measuring'

export function menuItems(view: TrayView, launchOnLogin: boolean, platform: NodeJS.Platform): HelperItem[] {
  const info = (id: number, title: string): HelperItem => ({
    id,
    title,
    tooltip: title,
    enabled: false,
    checked: false,
  })
  const action = (id: number, title: string, tooltip: string, enabled = true): HelperItem => ({
    id,
    title,
    tooltip,
    enabled,
    checked: false,
  })
  return [
    info(ITEM.headline, view.headline),
    info(ITEM.lastRound, view.lastRound),
    info(ITEM.today, view.today),
    { id: 4, separator: true },
    view.running
      ? action(ITEM.toggle, STOP_TITLE, 'Stop the client: the running round is reported as cancelled')
      : action(ITEM.toggle, START_TITLE, 'Start punchr client'),
    action(
      ITEM.statusPage,
      'Open status page',
      "The client's status page in the browser",
      view.statusPageEnabled,
    ),
    action(
      ITEM.myResults,
      'My results',
      'Your results on the dashboard (known once the client has reached the server)',
      view.myResultsUrl !== null,
    ),
    action(ITEM.apiKey, 'Set API key…', 'Store the API key the client reports with'),
    {
      id: ITEM.launchOnLogin,
      // The Linux helper draws no check marks (AppIndicator menus have none through it).
      title: platform === 'linux' && launchOnLogin ? 'Launch on login ✓' : 'Launch on login',
      tooltip: 'Start the tray when you log in',
      enabled: true,
      checked: launchOnLogin,
    },
    { id: 10, separator: true },
    action(ITEM.quit, 'Quit', 'Stop the client and close the tray'),
  ]
}

/** The helper's icon, title and tooltip. The macOS menu bar shows the title beside the icon: none there. */
export function helperIcon(view: TrayView, platform: NodeJS.Platform): HelperIcon {
  return {
    icon: iconBase64(view.icon, platform),
    title: platform === 'darwin' ? '' : view.tooltip,
    tooltip: view.tooltip,
  }
}

/** The items of `next` that differ from `previous`. */
export function changedItems(previous: readonly HelperItem[], next: readonly HelperItem[]): HelperItem[] {
  return next.filter((item, i) => JSON.stringify(item) !== JSON.stringify(previous[i]))
}
