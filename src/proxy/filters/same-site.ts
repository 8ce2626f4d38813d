// ingress-nginx session-cookie-conditional-samesite-none: some browsers mishandle a cookie
// marked SameSite=None (older Chrome and UC Browser drop it; Safari on macOS 10.14 and every
// browser on iOS 12 take it as SameSite=Strict), so for them the affinity cookie goes out
// without the attribute (which those browsers read as "None" anyway).
//
// Portico omits it for every User-Agent ingress-nginx omits it for (its util/same_site.lua:
// the substrings Chrome/4, Chrome/5, Chrome/6, "CPU iPhone OS 12", "iPad; CPU OS 12", and
// Safari without Chrome on "Intel Mac OS X 10_14"), and for two groups of Chromium's list of
// incompatible clients that those checks miss: UC Browser before 12.13.2, and browsers embedded
// in macOS 10.14 applications (a WebKit User-Agent without a Safari token). Omitting the
// attribute for a browser that would have understood it is harmless: every browser on that list
// predates SameSite=Lax by default. Plain substring checks and digit scans, no regex: the
// User-Agent is the client's text, and this runs only when a cookie is being set.

/** Whether a browser sending this User-Agent handles `SameSite=None` (true without one). */
export function sameSiteNoneCompatible(userAgent: string | null): boolean {
  if (userAgent === null) return true;
  // ingress-nginx's checks
  if (userAgent.includes('Chrome/4') || userAgent.includes('Chrome/5') || userAgent.includes('Chrome/6')) return false;
  if (userAgent.includes('CPU iPhone OS 12') || userAgent.includes('iPad; CPU OS 12')) return false;
  if (userAgent.includes('Macintosh') && userAgent.includes('Intel Mac OS X 10_14') && !userAgent.includes('Chrome')) {
    if (userAgent.includes('Safari')) return false;
    // an embedded browser (WKWebView) names no browser after its engine
    if (userAgent.includes('AppleWebKit/') && userAgent.endsWith('(KHTML, like Gecko)')) return false;
  }
  // UC Browser before 12.13.2 rejects the cookie
  const uc = userAgent.indexOf('UCBrowser/');
  if (uc !== -1 && ucBrowserBefore12132(userAgent, uc + 10)) return false;
  return true;
}

/** The version at `at` ("12.13.2.1208"): whether it is below 12.13.2; false when it does not parse. */
function ucBrowserBefore12132(ua: string, at: number): boolean {
  const v: number[] = [];
  let i = at;
  while (v.length < 3) {
    const start = i;
    let n = 0;
    while (i < ua.length && i - start < 6) {
      const c = ua.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      i++;
    }
    if (i === start) return false;
    v.push(n);
    if (v.length < 3) {
      if (ua[i] !== '.') return false;
      i++;
    }
  }
  const [major, minor, build] = v as [number, number, number];
  if (major !== 12) return major < 12;
  if (minor !== 13) return minor < 13;
  return build < 2;
}

/** The User-Agent of a flat header list (name, value, ...), or null. */
export function userAgentOf(headers: readonly string[]): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if (n.length === 10 && n.toLowerCase() === 'user-agent') return headers[i + 1]!;
  }
  return null;
}
