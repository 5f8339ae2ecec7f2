// What the CLI says when something fails: an exit code, a stable error code, the message, the status
// word when a card answered one, and a hint where there is something to do. Also the names of status
// words, PoR statuses, SMPP command statuses and GP life cycles that output shows beside the numbers.
import { CoapsTransportRequiredError, CoapTimeoutError, CoapUriError } from '@iotsafe/coap';
import { TransportError } from '@iotsafe/device';
import { OtaTimeoutError, SmppError } from '@iotsafe/ota';
import { FormatError, OtaPacketError, StatusWordError, swToHex } from '@iotsafe/protocol';
import { ProfileError, ProvisioningError, SimStateError, StorageKeyError } from '@iotsafe/sim';
import { UsageError } from './usage.js';

/** The `error` member of a JSON error (docs/json.md). */
export interface CliError {
  code: 'usage' | 'failed' | 'card-refused' | 'sim-unusable' | 'unreachable' | 'timeout';
  message: string;
  sw?: string;
  hint?: string;
}

export const EXIT_CODE: Record<CliError['code'], number> = {
  failed: 1,
  timeout: 1,
  usage: 2,
  'card-refused': 3,
  'sim-unusable': 4,
  unreachable: 5,
};

/** What a status word usually means for the user, by SW and (where it matters) the command. */
export function statusWordHint(sw: number, command = ''): string | undefined {
  const select = /SELECT/.test(command);
  switch (sw) {
    case 0x6a82:
      return select
        ? 'the applet is not selectable: the card may be locked (`iotsafe gp unlock`) or the applet not installed (`iotsafe gp install`)'
        : 'no such object: `iotsafe objects` lists the containers';
    case 0x6a88:
      return 'no such key set or data object on the card: `iotsafe gp info` lists the key sets';
    case 0x6985:
      return /STORE DATA|INSTALL \[for personalization\]/.test(command)
        ? 'personalisation is locked over the air only (SCP80/SCP81), or the applet is not in a state that accepts it'
        : /GENERATE|PUT PUBLIC/.test(command)
          ? 'the container does not allow it (see its functions and access in `iotsafe objects`)'
          : 'conditions of use not satisfied: a locked card (`iotsafe gp unlock`), a locked personalisation, or a container without that function';
    case 0x6982:
      return /STORE DATA|PUT KEY/.test(command)
        ? "keys and secrets need a ciphered session (`iotsafe gp --level enc`, or renc); a locked personalisation needs the C-MAC of the issuer's channel"
        : 'security status not satisfied: the command needs a secure channel or a verified PIN (--pin)';
    case 0x6d00:
      return 'this card or applet does not implement the command (another personality? `iotsafe info`)';
    case 0x6e00:
      return 'class not supported: the applet may expect another CLA (a pre-standard applet?)';
    case 0x6581:
      return 'the card could not write its memory; nothing was changed';
    case 0x6d01:
      return 'the signature does not match the message and key';
    default:
      return (sw & 0xfff0) === 0x63c0 ? 'wrong PIN: check it before the card blocks it' : undefined;
  }
}

/** PoR status (ETSI TS 102 225 §5.1.2 table 5.2) → [name, hint]. */
const POR_STATUS: Record<number, [string, string?]> = {
  0: ['ok'],
  1: ['rcCcDsFailed', "the KID key does not match the SIM's key set: check the keys and --kvn"],
  2: ['counterLow', 'the SIM has seen a higher counter: the key store is behind the card'],
  3: ['counterHigh', 'the counter jumped further than the SIM allows'],
  4: ['counterBlocked', "the SIM's counter for this key set is exhausted: load a new key set"],
  5: ['cipheringError', "the KIc key does not match the SIM's key set"],
  6: [
    'unidentifiedSecurityError',
    'often a key set the SIM does not have: load it first (`iotsafe gp put-key --new-kvn 01 --new-keys-file …`)',
  ],
  7: ['insufficientMemory'],
  8: ['moreTime'],
  9: ['tarUnknown', 'no application on the SIM has this TAR (000000 RAM to the ISD, B00000 RFM)'],
  10: ['insufficientSecurityLevel', 'the TAR asks for more security: use SPI 1619 (cipher, CC, counter)'],
  11: ['responseViaSubmit'],
  12: ['responseViaUssd'],
};

export function porStatusName(status: number): string {
  return POR_STATUS[status]?.[0] ?? `status${status.toString(16).padStart(2, '0').toUpperCase()}`;
}

export function porStatusHint(status: number): string | undefined {
  return POR_STATUS[status]?.[1];
}

/** SMPP 3.4 §5.1.3 command_status values an ESME meets → [name, hint]. */
const SMPP_STATUS: Record<number, [string, string?]> = {
  0: ['ESME_ROK'],
  1: ['ESME_RINVMSGLEN'],
  3: ['ESME_RINVCMDID'],
  4: ['ESME_RINVBNDSTS', 'the link is not bound yet'],
  5: ['ESME_RALYBND'],
  8: ['ESME_RSYSERR', 'the SMSC failed: try again'],
  10: ['ESME_RINVSRCADR'],
  11: ['ESME_RINVDSTADR', 'the SMSC knows no such destination: check the MSISDN'],
  13: ['ESME_RBINDFAIL', 'the SMSC refused the bind: check --system-id and --password'],
  14: ['ESME_RINVPASWD', 'wrong SMPP password: --password or IOTSAFE_SMPP_PASSWORD'],
  15: ['ESME_RINVSYSID', 'unknown SMPP system_id: --system-id'],
  20: ['ESME_RMSGQFUL', 'the SMSC queue is full: try later'],
  69: ['ESME_RSUBMITFAIL'],
  88: ['ESME_RTHROTTLED', 'the SMSC throttles us: send more slowly'],
};

function smppStatusName(status: number): string {
  return SMPP_STATUS[status]?.[0] ?? `command_status 0x${status.toString(16).padStart(8, '0')}`;
}

/** GPCS §11.1.1 card life cycle (ISD) and §11.1.1.4 application life cycle names. */
const CARD_LIFE_CYCLE: Record<number, string> = {
  1: 'OP_READY',
  7: 'INITIALIZED',
  15: 'SECURED',
  127: 'CARD_LOCKED',
  255: 'TERMINATED',
};
const APPLICATION_LIFE_CYCLE: Record<number, string> = {
  3: 'INSTALLED',
  7: 'SELECTABLE',
  15: 'PERSONALIZED',
};

export function lifeCycleName(kind: 'isd' | 'application' | 'loadFile', value: number): string {
  if (kind === 'isd') return CARD_LIFE_CYCLE[value] ?? `life cycle ${value.toString(16)}`;
  if (kind === 'loadFile') return value === 0x01 ? 'LOADED' : `life cycle ${value.toString(16)}`;
  if (value & 0x80) return 'LOCKED';
  return APPLICATION_LIFE_CYCLE[value & 0x7f] ?? `application-specific ${value.toString(16)}`;
}

/** The SMPP status an SmppError names in its message (the ota package carries no field for it). */
function smppStatusOf(error: SmppError): number | undefined {
  const m = /command_status (\d+)/.exec(error.message);
  return m ? Number(m[1]) : undefined;
}

export function describeError(error: unknown): CliError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError || error instanceof ProfileError) return { code: 'usage', message };
  if (error instanceof StatusWordError) {
    const hint = statusWordHint(error.sw, error.commandName);
    return { code: 'card-refused', message, sw: swToHex(error.sw), ...(hint ? { hint } : {}) };
  }
  if (error instanceof TransportError) return { code: 'unreachable', message };
  if (
    error instanceof StorageKeyError ||
    error instanceof SimStateError ||
    error instanceof ProvisioningError
  )
    return { code: 'sim-unusable', message };
  if (error instanceof OtaTimeoutError)
    return {
      code: 'timeout',
      message,
      hint: 'no PoR came back: is the SIM in a handset on this SMSC (`iotsafe ota network`), is the MSISDN right?',
    };
  if (error instanceof OtaPacketError) {
    const hint = porStatusHint(error.status);
    return { code: 'failed', message, ...(hint ? { hint } : {}) };
  }
  if (error instanceof SmppError) {
    const status = smppStatusOf(error);
    const hint = status === undefined ? undefined : SMPP_STATUS[status]?.[1];
    const named = status === undefined ? message : `${message}: ${smppStatusName(status)}`;
    return { code: 'failed', message: named, ...(hint ? { hint } : {}) };
  }
  if (error instanceof CoapUriError || error instanceof CoapsTransportRequiredError)
    return { code: 'usage', message };
  if (error instanceof CoapTimeoutError)
    return {
      code: 'timeout',
      message,
      hint: 'is a CoAP server listening there on UDP? (a firewall drops datagrams silently; --trace shows the retransmissions)',
    };
  if (error instanceof FormatError) return { code: 'failed', message };
  return { code: 'failed', message };
}
