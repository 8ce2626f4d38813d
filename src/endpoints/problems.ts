// What is wrong with the EndpointSlices the index had to skip or trim, one entry per slice, so
// an operator learns why a Service has fewer endpoints than its pods.

export type EndpointProblemReason = 'InvalidAddress' | 'FQDNNotRoutable' | 'UnknownAddressType';

export interface EndpointProblem {
  /** The slice, `namespace/name`. */
  readonly slice: string;
  readonly reason: EndpointProblemReason;
  /** A sentence naming the slice and what was dropped. */
  readonly message: string;
}

/** How many dropped addresses a message quotes; the count covers the rest. */
const QUOTED = 3;
/** Addresses are user input: quote at most this many characters of each. */
const QUOTE_CHARS = 64;

export function invalidAddressProblem(slice: string, addressType: string, invalid: readonly unknown[]): EndpointProblem {
  const quoted = invalid.slice(0, QUOTED).map(quote).join(', ');
  const more = invalid.length > QUOTED ? ` and ${invalid.length - QUOTED} more` : '';
  const n = invalid.length;
  return {
    slice,
    reason: 'InvalidAddress',
    message: `EndpointSlice ${slice}: ${n} endpoint${n === 1 ? '' : 's'} dropped, not ${article(addressType)} ${addressType} address: ${quoted}${more}`,
  };
}

export function fqdnProblem(slice: string): EndpointProblem {
  return {
    slice,
    reason: 'FQDNNotRoutable',
    message: `EndpointSlice ${slice} has addressType FQDN: Portico routes to IPv4 and IPv6 endpoints only, so its endpoints are not used`,
  };
}

export function unknownAddressTypeProblem(slice: string, addressType: unknown): EndpointProblem {
  return {
    slice,
    reason: 'UnknownAddressType',
    message: `EndpointSlice ${slice} has addressType ${quote(addressType)}, expected IPv4 or IPv6: its endpoints are not used`,
  };
}

function quote(v: unknown): string {
  if (typeof v !== 'string') return v === undefined ? 'undefined' : typeof v;
  return JSON.stringify(v.length > QUOTE_CHARS ? v.slice(0, QUOTE_CHARS) + '…' : v);
}

function article(word: string): string {
  return /^[aeiouAEIOU]/.test(word) ? 'an' : 'a';
}
