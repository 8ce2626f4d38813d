// Request headers a route sets upstream: Host (ingress-nginx upstream-vhost) and
// X-Forwarded-Prefix (x-forwarded-prefix, with a rewrite). They replace whatever the flat
// upstream header list holds under those names (the inbound scan already dropped hop-by-hop
// headers and set X-Forwarded-*).

/** Sets `name` (lower case) to `value` in a flat [name, value, ...] list, replacing every copy. */
export function setHeader(headers: string[], name: string, value: string): void {
  let found = false;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length !== name.length || headers[i]!.toLowerCase() !== name) continue;
    if (!found) {
      headers[i + 1] = value;
      found = true;
    } else {
      headers.splice(i, 2);
      i -= 2;
    }
  }
  if (!found) headers.push(name, value);
}
