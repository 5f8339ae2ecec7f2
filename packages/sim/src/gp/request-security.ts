// What protects a command the ISD processes, passed with the command (never kept in a field): an SCP03
// session on a logical channel (GPCS Amd D), an SCP80 secured packet (ETSI TS 102 225 §5.1), or an SCP81
// admin session (GP Amd B: PSK-TLS).
import type { KeySet } from './isd-state.js';

/** Security level bits in SCP terms (GPCS Table 10-1: AUTHENTICATED, C-DECRYPTION, C-MAC). */
export const LEVEL = { AUTHENTICATED: 0x80, C_DECRYPTION: 0x02, C_MAC: 0x01 } as const;

/**
 * A remote command's security: `level` is 80 authenticated | 02 ciphered | 01 integrity; `keySet` is
 * the packet's SCP80 key set or the session's SCP81 (TLS-PSK) key set.
 */
export interface RemoteSecurity {
  via: 'scp80' | 'scp81';
  level: number;
  keySet: KeySet;
}

/**
 * The security of the command being processed: `level` in SCP03 terms (80 authenticated | 02
 * C-DECRYPTION | 01 C-MAC | 10 R-MAC | 20 R-ENCRYPTION); `channel` the logical channel, or the pseudo
 * channel of a remote source; `keySet` the session's, the packet's or the TLS session's.
 */
export interface RequestSecurity {
  via: 'scp03' | 'scp80' | 'scp81';
  channel: number;
  level: number;
  keySet: KeySet | undefined;
}

/**
 * The issuer's own channel: the ISD authenticated the sender (EXTERNAL AUTHENTICATE, a verified SCP80
 * checksum or signature, the PSK-TLS handshake) and checks each command's integrity (C-MAC, the
 * packet's CC or DS, the TLS record MAC). A level-00 SCP03 session or an SCP80 packet with only a
 * redundancy check does not qualify.
 */
export function isIssuerChannel(security: Pick<RequestSecurity, 'level'>): boolean {
  const required = LEVEL.AUTHENTICATED | LEVEL.C_MAC;
  return (security.level & required) === required;
}
