// One AEAD key (RFC 5116) for a record cipher: seals into the caller's buffer and opens into a fresh
// one. Where @iotsafe/aead-native loads, a record costs one call into Node's own OpenSSL, keyed once
// (a new nonce per record); elsewhere, and for CCM, it costs a node:crypto cipher per record.
import {
  type CipherGCM,
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type DecipherGCM,
  type KeyObject,
} from 'node:crypto';
import { createRequire } from 'node:module';

/** What the addon exports (its own typings, packages/aead-native/index.d.cts). */
type NativeAead = typeof import('@iotsafe/aead-native');
type NativeKey = ReturnType<NativeAead['createKey']>;

/** The AEADs the addon serves: a 12-byte nonce and a 16-byte tag. */
const NATIVE_ALGORITHMS = new Set(['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305']);

function loadNative(): { module?: NativeAead; reason: string } {
  if (process.env.IOTSAFE_NATIVE_AEAD === '0') return { reason: 'turned off (IOTSAFE_NATIVE_AEAD=0)' };
  try {
    const load = createRequire(import.meta.url);
    return { module: load('@iotsafe/aead-native') as NativeAead, reason: 'loaded' };
  } catch (error) {
    return { reason: `not built (${(error as Error).message.split('\n')[0]})` };
  }
}

const native = loadNative();
let nativeEnabled = native.module !== undefined;

/** Which implementation new record keys use, and why: the addon or node:crypto. */
export function aeadBackend(): { backend: 'aead-native' | 'node:crypto'; reason: string } {
  return nativeEnabled
    ? { backend: 'aead-native', reason: native.reason }
    : {
        backend: 'node:crypto',
        reason: native.module ? 'turned off by setNativeAead(false)' : native.reason,
      };
}

/**
 * Turns the addon on or off for record keys made from now on (tests and benchmarks compare the two);
 * returns whether it is on (it cannot be where it did not load).
 */
export function setNativeAead(enabled: boolean): boolean {
  nativeEnabled = enabled && native.module !== undefined;
  return nativeEnabled;
}

/** The node:crypto typings give setAAD's options only to CCM; GCM and ChaCha20 take them too. */
type Sealer = CipherGCM & { setAAD(aad: Uint8Array, options?: { plaintextLength: number }): unknown };
type Opener = DecipherGCM & { setAAD(aad: Uint8Array, options?: { plaintextLength: number }): unknown };

/** No trailing byte (seal's `trailer`). */
export const NO_TRAILER = -1;

export class AeadKey {
  /** The addon's two keyed contexts (seal, open) where it serves this algorithm. */
  private readonly addon?: { module: NativeAead; seal: NativeKey; open: NativeKey };
  private readonly key: KeyObject;
  /** CCM needs the tag length and the plaintext length given up front (RFC 3610 §2.2). */
  private readonly ccm: boolean;
  /** TLS 1.3 stages content ‖ type here for node:crypto's single update. */
  private staging = Buffer.alloc(0);

  constructor(
    private readonly algorithm: string,
    key: Uint8Array,
    private readonly tagLength = 16,
  ) {
    this.ccm = algorithm.endsWith('-ccm');
    const module = native.module;
    if (module && nativeEnabled && tagLength === 16 && NATIVE_ALGORITHMS.has(algorithm))
      this.addon = {
        module,
        seal: module.createKey(algorithm, key, true),
        open: module.createKey(algorithm, key, false),
      };
    // A KeyObject: node:crypto starts a cipher from one about 1 µs sooner than from raw key bytes.
    this.key = createSecretKey(key);
  }

  /** Whether this key seals with the addon. */
  get isNative(): boolean {
    return this.addon !== undefined;
  }

  /**
   * Writes the ciphertext of `input`, then of the byte `trailer` if it is not NO_TRAILER (TLS 1.3's
   * inner content type, RFC 8446 §5.2), then the tag, into `out` from `offset`.
   */
  sealInto(
    nonce: Uint8Array,
    aad: Uint8Array,
    input: Uint8Array,
    trailer: number,
    out: Buffer,
    offset: number,
  ) {
    if (this.addon) {
      this.addon.module.seal(this.addon.seal, nonce, aad, input, trailer, out, offset);
      return;
    }
    const length = input.length + (trailer === NO_TRAILER ? 0 : 1);
    const cipher = this.cipher(nonce);
    if (this.ccm) cipher.setAAD(aad, { plaintextLength: length });
    else cipher.setAAD(aad);
    let plaintext = input;
    if (trailer !== NO_TRAILER) {
      // one update per record (the AEADs here output one byte per byte): content and type staged
      if (this.staging.length < length) this.staging = Buffer.allocUnsafe(Math.max(length, 256));
      this.staging.set(input, 0);
      this.staging[input.length] = trailer;
      plaintext = this.staging.subarray(0, length);
    }
    cipher.update(plaintext).copy(out, offset);
    cipher.final();
    cipher.getAuthTag().copy(out, offset + length);
  }

  /** The plaintext of `sealed` (ciphertext ‖ tag) in a buffer of its own, or undefined if the tag fails. */
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
    const length = sealed.length - this.tagLength;
    if (length < 0) return undefined;
    if (this.addon) {
      const out = Buffer.allocUnsafe(length);
      return this.addon.module.open(this.addon.open, nonce, aad, sealed, out) ? out : undefined;
    }
    const decipher = createDecipheriv(
      this.algorithm as 'aes-128-gcm',
      this.key,
      nonce,
      this.ccm || this.tagLength !== 16 ? { authTagLength: this.tagLength } : undefined,
    ) as Opener;
    decipher.setAuthTag(sealed.subarray(length));
    if (this.ccm) decipher.setAAD(aad, { plaintextLength: length });
    else decipher.setAAD(aad);
    try {
      const plaintext = decipher.update(sealed.subarray(0, length));
      decipher.final();
      return plaintext;
    } catch {
      return undefined;
    }
  }

  private cipher(nonce: Uint8Array): Sealer {
    // Without an options object where the tag is the default 16 bytes: nothing to read per record.
    return (
      this.ccm || this.tagLength !== 16
        ? createCipheriv(this.algorithm as 'aes-128-ccm', this.key, nonce, { authTagLength: this.tagLength })
        : createCipheriv(this.algorithm as 'aes-128-gcm', this.key, nonce)
    ) as Sealer;
  }
}
