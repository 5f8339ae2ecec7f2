/** An EVP cipher context keyed for one direction; freed with the object. */
export type AeadKey = object & { readonly __aeadKey: unique symbol };

/** 'aes-128-gcm', 'aes-256-gcm' or 'chacha20-poly1305': an AEAD with a 12-byte nonce and a 16-byte tag. */
export function createKey(algorithm: string, key: Uint8Array, encrypt: boolean): AeadKey;

/**
 * Writes the ciphertext of `input` (then of the byte `trailer` when it is 0-255, else nothing more)
 * and the 16-byte tag into `out` at `offset`; returns the offset after the tag. `input` may be the
 * bytes being sealed in place; it may not overlap them otherwise.
 */
export function seal(
  key: AeadKey,
  nonce: Uint8Array,
  aad: Uint8Array,
  input: Uint8Array,
  trailer: number,
  out: Uint8Array,
  offset: number,
): number;

/** Decrypts `sealed` (ciphertext ‖ tag) into `out`; false when the tag does not verify. */
export function open(
  key: AeadKey,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  out: Uint8Array,
): boolean;
