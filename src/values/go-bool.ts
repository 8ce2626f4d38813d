// Booleans as ingress-nginx reads them, in annotations and its ConfigMap: Go's
// strconv.ParseBool. One reader for every room that takes ingress-nginx's words.

const TRUE: ReadonlySet<string> = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE: ReadonlySet<string> = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** What parseGoBool accepts, for problem messages. */
export const GO_BOOL_ACCEPTED = '"true" or "false" (also 1/0, t/f, TRUE/FALSE, True/False)';

/** true / false as Go's strconv.ParseBool reads `raw` (already trimmed), else undefined. */
export function parseGoBool(raw: string): boolean | undefined {
  if (TRUE.has(raw)) return true;
  if (FALSE.has(raw)) return false;
  return undefined;
}
