// The login page of the lab's made-up home router (src/lab/peers/router-login.ts). Like a
// real one it shows private things before login (the owner, the SSID, an e-mail address): a
// test checks that none of them leave the client, whose router fingerprint may carry only the
// title, the Server header and names from its fixed vendor list (src/client/router-probe.ts).

/** The page's <title>, as the client's fingerprint should report it. */
export const LAB_ROUTER_TITLE = 'PunchrLab Router LR-1000'
/** The Server header the lab router sends. */
export const LAB_ROUTER_SERVER = 'punchr-lab-router/1'

/** What the page shows that must never leave the client, each on its own. */
export const LAB_ROUTER_PRIVATE = {
  owner: 'Carol Labowner',
  ssid: 'CarolsWLAN-5G',
  email: 'carol.labowner@example.org',
  serial: 'LR1K-7Q3Z-0042',
} as const

/** The private strings as a list, for `for … of` checks. */
export const LAB_ROUTER_PRIVATE_STRINGS: readonly string[] = Object.values(LAB_ROUTER_PRIVATE)

/** The HTML of the login page. */
export function labRouterLoginPage(): string {
  const p = LAB_ROUTER_PRIVATE
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="description" content="Router of ${p.owner}">
<title>${LAB_ROUTER_TITLE}</title>
</head>
<body>
<h1>${LAB_ROUTER_TITLE}</h1>
<p>Owner: ${p.owner} &lt;${p.email}&gt;</p>
<p>WiFi: ${p.ssid}</p>
<p>Serial number: ${p.serial}</p>
<form method="post" action="/login.html">
<label>Password <input type="password" name="password"></label>
<button type="submit">Log in</button>
</form>
</body>
</html>
`
}
