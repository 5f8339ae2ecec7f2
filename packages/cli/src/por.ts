// A Proof of Receipt for people and scripts (ETSI TS 102 225 §5.1.2): status by name with its code in
// hex and a hint, the counter as a number, the script's response (TS 102 226 §5.1 compact, §5.2 expanded).
import {
  bytesToHex,
  type DecodedResponse,
  decodeCompactResponse,
  decodeExpandedResponse,
  scriptFormat,
  swToHex,
} from '@iotsafe/protocol';
import { porStatusHint, porStatusName } from './errors.js';

export const byteHex = (n: number) => n.toString(16).padStart(2, '0').toUpperCase();

/** A PoR as JSON (docs/json.md): status by name, its code in hex, counters as numbers. */
export function porJson(por: DecodedResponse) {
  const response =
    por.data.length === 0
      ? undefined
      : scriptFormat(por.data) === 'compact'
        ? (() => {
            const r = decodeCompactResponse(por.data);
            return { format: 'compact', executed: r.executed, sw: swToHex(r.sw), data: bytesToHex(r.data) };
          })()
        : (() => {
            const r = decodeExpandedResponse(por.data);
            return {
              format: 'expanded',
              executed: r.executed,
              responses: r.responses.map((x) => bytesToHex(x)),
            };
          })();
  const hint = porStatusHint(por.status);
  return {
    tar: bytesToHex(por.tar),
    counter: por.counter,
    status: porStatusName(por.status),
    statusCode: byteHex(por.status),
    statusText: por.statusText,
    ...(hint ? { hint } : {}),
    secured: por.secured,
    data: bytesToHex(por.data),
    ...(response ? { response } : {}),
  };
}

export function porRows(por: DecodedResponse): string[][] {
  const j = porJson(por);
  const r = j.response;
  return [
    ['TAR', j.tar],
    ['CNTR', String(j.counter)],
    ['status', `${j.statusCode} ${j.statusText}${j.hint ? ` (${j.hint})` : ''}`],
    ['secured', por.secured ? 'as the SPI asked' : 'no (an error PoR sent without security)'],
    ...(j.data ? [['data', j.data]] : []),
    ...(r
      ? [
          [
            'response',
            'sw' in r
              ? `${r.executed} executed, last SW ${r.sw}${r.data ? `, data ${r.data}` : ''}`
              : `${r.executed} executed; R-APDUs ${r.responses?.join(' ')}`,
          ],
        ]
      : []),
  ];
}
