// Why the server refused: what a handshake remembers of its offer and of the client's authentication,
// and the words an alert from the server becomes with it. Every alert is named as its RFC names it
// (RFC 8446 §6.2, RFC 5246 §7.2.2); the guesses say "probably" where the alert alone cannot tell.
import { ALERT, type AlertName, describeAlert, type NamedGroup, schemeName } from './constants.js';
import { TlsError } from './errors.js';

export interface HandshakeDiagnostics {
  /** What the ClientHello offered, in words: versions, cipher suites, groups, signature schemes. */
  offered?: string;
  /** The identity of the PSK offered (sent in clear in the ClientHello, so no secret). */
  pskIdentity?: string;
  /** The ServerHello has been read: a refusal now is not about the offer. */
  serverHelloRead?: boolean;
  /** The server asked for a client certificate. */
  certificateRequested?: boolean;
  /** The client certificate we sent: its subject and issuer. */
  clientCertificate?: { subject: string; issuer: string };
  /** Why no certificate went to a server that asked for one. */
  clientAuth?: string;
}

export function describeOffer(o: {
  versions: readonly string[];
  suites: readonly string[];
  groups: readonly NamedGroup[];
  /** Why the groups are so few, when the key operations decide it. */
  groupsLimitedBy?: string;
  schemes: readonly number[];
}): string {
  return [
    o.versions.join(', '),
    `cipher suites ${o.suites.join(', ')}`,
    `groups ${o.groups.join(', ')}${o.groupsLimitedBy ? ` (${o.groupsLimitedBy})` : ''}`,
    `signature schemes ${o.schemes.map(schemeName).join(', ')}`,
  ].join('; ');
}

/** Alerts with which a server turns down the client certificate (or its absence). */
const CERTIFICATE_REFUSALS: readonly AlertName[] = [
  'bad_certificate',
  'unsupported_certificate',
  'certificate_revoked',
  'certificate_expired',
  'certificate_unknown',
  'unknown_ca',
  'access_denied',
  'certificate_required',
  'handshake_failure',
  'decrypt_error',
];

/** Alerts with which a server turns down a PSK: a bad binder or Finished, an identity it does not know. */
const PSK_REFUSALS: readonly AlertName[] = [
  'decrypt_error',
  'bad_record_mac',
  'illegal_parameter',
  'unknown_psk_identity',
  'handshake_failure',
];

/** Alerts that say no parameter of the offer suited the server. */
const NOTHING_IN_COMMON: readonly AlertName[] = [
  'handshake_failure',
  'insufficient_security',
  'protocol_version',
];

/** The message of a fatal alert the server sent, with what the handshake knows of its cause. */
export function explainAlert(alert: AlertName, code: number, d: HandshakeDiagnostics): string {
  const sent = `it sent ${describeAlert(code)}`;
  if (d.certificateRequested && CERTIFICATE_REFUSALS.includes(alert)) {
    const ours = d.clientCertificate;
    if (!ours)
      return `the server requires a client certificate: ${sent} (${d.clientAuth ?? 'we have none to send'})`;
    const hint =
      alert === 'unknown_ca'
        ? `: ours, "${ours.subject}", is issued by "${ours.issuer}", a CA the server does not trust`
        : alert === 'decrypt_error'
          ? ': it could not verify the signature made with our key'
          : ` (our certificate: "${ours.subject}", issued by "${ours.issuer}")`;
    return `the server rejected our certificate: ${sent}${hint}`;
  }
  if (d.pskIdentity !== undefined && PSK_REFUSALS.includes(alert))
    return `the server refused the handshake: ${sent} (the PSK or its identity "${d.pskIdentity}" is probably wrong)`;
  if (NOTHING_IN_COMMON.includes(alert) && d.offered)
    return d.serverHelloRead
      ? `the server sent ${describeAlert(code)} (we offered ${d.offered})`
      : `the server found nothing it accepts in our offer: ${sent} (we offered ${d.offered})`;
  return `the server sent ${describeAlert(code)}`;
}

/** The error a fatal alert from the server becomes: its name, an explanation, the code if unnamed. */
export function peerAlertError(description: number, d: HandshakeDiagnostics): TlsError {
  const entry = Object.entries(ALERT).find(([, v]) => v === description);
  const name = (entry?.[0] ?? 'internal_error') as AlertName;
  return new TlsError(name, explainAlert(name, description, d), true, entry ? undefined : description);
}
