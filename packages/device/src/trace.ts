// APDU trace: one line per exchange, with secrets redacted — the secret in COMPUTE PRF mode 00, the IKM
// of COMPUTE HKDF, the ECDHE secret given to PRF mode 02, every output of DH/PRF/HKDF, and GET RANDOM
// output (hosts seed their DRBG with it, as wolfSSL's HAVE_IOTSAFE_HWRNG does).
import {
  bytesToHex,
  type CommandApdu,
  decodeIotTlvs,
  describeStatusWord,
  encodeCommandApdu,
  INS,
  swToHex,
  TAG,
} from '@iotsafe/protocol';

export type TraceSink = (line: string) => void;

const SECRET_OUTPUT = new Set<number>([INS.GET_RANDOM, INS.COMPUTE_DH, INS.COMPUTE_PRF, INS.COMPUTE_HKDF]);
const SECRET_TAGS = new Set<number>([TAG.SECRET, TAG.PREMASTER_OTHER_SECRET]);

/** True when a command's response data is secret (and so is any GET RESPONSE that fetches it). */
export function hasSecretResponse(apdu: CommandApdu): boolean {
  return SECRET_OUTPUT.has(apdu.ins);
}

function redactedData(apdu: CommandApdu): string {
  if (apdu.ins !== INS.COMPUTE_PRF && apdu.ins !== INS.COMPUTE_HKDF) return bytesToHex(apdu.data, ' ');
  try {
    return decodeIotTlvs(apdu.data)
      .map((t) => {
        const head = `${t.tag.toString(16).toUpperCase()} ${t.value.length.toString(16).toUpperCase().padStart(2, '0')}`;
        return SECRET_TAGS.has(t.tag)
          ? `${head} <${t.value.length} bytes redacted>`
          : `${head} ${bytesToHex(t.value, ' ')}`;
      })
      .join(' ');
  } catch {
    return `<${apdu.data.length} bytes redacted>`;
  }
}

export function formatCommand(apdu: CommandApdu): string {
  const raw = encodeCommandApdu(apdu);
  const header = bytesToHex(raw.subarray(0, 4), ' ');
  if (apdu.data.length === 0)
    return `${header}${apdu.le !== undefined ? ` ${bytesToHex(raw.subarray(4), ' ')}` : ''}`;
  const lc = apdu.data.length.toString(16).toUpperCase().padStart(2, '0');
  const le = apdu.le !== undefined ? ` ${(apdu.le & 0xff).toString(16).toUpperCase().padStart(2, '0')}` : '';
  return `${header} ${lc} ${redactedData(apdu)}${le}`;
}

export function formatResponse(data: Uint8Array, sw: number, secret: boolean, elapsedMs: number): string {
  const body =
    data.length === 0 ? '' : secret ? `<${data.length} bytes redacted> ` : `${bytesToHex(data, ' ')} `;
  return `${body}${swToHex(sw)} (${describeStatusWord(sw)}, ${elapsedMs.toFixed(1)} ms)`;
}
