// Content-Format numbers and names (RFC 7252 §12.3 and the IANA "CoAP Content-Formats" registry
// entries in common use), both ways.

const FORMATS: [number, string][] = [
  [0, 'text/plain;charset=utf-8'], // RFC 7252 §12.3
  [16, 'application/cose; cose-type="cose-encrypt0"'], // RFC 9052
  [17, 'application/cose; cose-type="cose-mac0"'],
  [18, 'application/cose; cose-type="cose-sign1"'],
  [19, 'application/ace+cbor'], // RFC 9200
  [40, 'application/link-format'], // RFC 7252 §12.3 (RFC 6690)
  [41, 'application/xml'],
  [42, 'application/octet-stream'],
  [47, 'application/exi'],
  [50, 'application/json'],
  [51, 'application/json-patch+json'], // RFC 8132
  [52, 'application/merge-patch+json'],
  [60, 'application/cbor'], // RFC 8949
  [61, 'application/cwt'], // RFC 8392
  [62, 'application/multipart-core'], // RFC 8710
  [63, 'application/cbor-seq'], // RFC 8742
  [96, 'application/cose; cose-type="cose-encrypt"'],
  [97, 'application/cose; cose-type="cose-mac"'],
  [98, 'application/cose; cose-type="cose-sign"'],
  [101, 'application/cose-key'],
  [102, 'application/cose-key-set'],
  [110, 'application/senml+json'], // RFC 8428
  [111, 'application/sensml+json'],
  [112, 'application/senml+cbor'],
  [113, 'application/sensml+cbor'],
  [114, 'application/senml-exi'],
  [115, 'application/sensml-exi'],
  [256, 'application/coap-group+json'], // RFC 7390
  [271, 'application/dots+cbor'], // RFC 9132
  [280, 'application/pkcs7-mime; smime-type=server-generated-key'], // RFC 9148 (EST over CoAP)
  [281, 'application/pkcs7-mime; smime-type=certs-only'],
  [284, 'application/pkcs8'],
  [285, 'application/csrattrs'],
  [286, 'application/pkcs10'],
  [287, 'application/pkix-cert'],
  [310, 'application/senml+xml'],
  [311, 'application/sensml+xml'],
  [11542, 'application/vnd.oma.lwm2m+tlv'],
  [11543, 'application/vnd.oma.lwm2m+json'],
  [11544, 'application/vnd.oma.lwm2m+cbor'],
];
const BY_NUMBER = new Map(FORMATS);
const normalise = (name: string) => name.toLowerCase().replace(/\s+/g, '');
const BY_NAME = new Map(FORMATS.map(([n, name]) => [normalise(name), n]));
/** Short names, as coap-client's -t accepts (text, json, cbor, ...). */
const ALIASES = new Map<string, number>([
  ['text', 0],
  ['plain', 0],
  ['text/plain', 0],
  ['link', 40],
  ['link-format', 40],
  ['xml', 41],
  ['octet', 42],
  ['octet-stream', 42],
  ['binary', 42],
  ['exi', 47],
  ['json', 50],
  ['cbor', 60],
  ['senml+json', 110],
  ['senml+cbor', 112],
]);

/** "application/json" for 50; undefined for a number without a registered name here. */
export function contentFormatName(format: number): string | undefined {
  return BY_NUMBER.get(format);
}

/**
 * A Content-Format from a number ("50"), a media type ("application/json") or a short name ("json");
 * a RangeError for anything else.
 */
export function parseContentFormat(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const n = Number(trimmed);
    if (n > 0xffff) throw new RangeError(`Content-Format out of range: ${trimmed}`);
    return n;
  }
  const found = BY_NAME.get(normalise(trimmed)) ?? ALIASES.get(trimmed.toLowerCase());
  if (found === undefined) throw new RangeError(`unknown Content-Format: ${text}`);
  return found;
}

/** Every format this module names, for help texts. */
export function knownContentFormats(): readonly [number, string][] {
  return FORMATS;
}
