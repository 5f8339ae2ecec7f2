// AEAD record protection (RFC 5116) with the OpenSSL that Node.js itself links: one EVP context per
// traffic key and direction, keyed once; each record only sets its nonce. node:crypto cannot give a
// GCM cipher a new nonce nor write into a given buffer, so it builds a cipher object and allocates its
// output for every record; this module does neither. The record layer uses it where it loads, and
// node:crypto where it does not (packages/tls, record/aead-backend.ts).
#include <node_api.h>
#include <openssl/evp.h>
#include <stdlib.h>

#define TAG_LENGTH 16
#define NONCE_LENGTH 12

typedef struct {
  EVP_CIPHER_CTX *ctx;
  int encrypt;
} aead_key;

#define CALL(env, call)                                                                            \
  do {                                                                                             \
    if ((call) != napi_ok) return throw_error(env, "ERR_AEAD_ARGUMENT", "bad argument");        \
  } while (0)

static napi_value throw_error(napi_env env, const char *code, const char *message) {
  napi_throw_error(env, code, message);
  return NULL;
}

static void free_key(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  aead_key *key = data;
  EVP_CIPHER_CTX_free(key->ctx);
  free(key);
}

/** The bytes of a Uint8Array (or Buffer) argument. */
static int bytes_of(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void *base;
  if (napi_get_typedarray_info(env, value, &type, length, &base, &buffer, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = base;
  return 1;
}

static int int_of(napi_env env, napi_value value, int64_t *out) {
  return napi_get_value_int64(env, value, out) == napi_ok;
}

/** createKey(algorithm, key, encrypt): an opaque key for seal (encrypt) or open (decrypt). */
static napi_value create_key(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 3) return throw_error(env, "ERR_AEAD_ARGUMENT", "createKey(algorithm, key, encrypt)");
  char name[32];
  size_t name_length;
  CALL(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_length));
  unsigned char *key_bytes;
  size_t key_length;
  if (!bytes_of(env, argv[1], &key_bytes, &key_length))
    return throw_error(env, "ERR_AEAD_ARGUMENT", "the key must be a Uint8Array");
  bool encrypt;
  CALL(env, napi_get_value_bool(env, argv[2], &encrypt));

  const EVP_CIPHER *cipher = EVP_get_cipherbyname(name);
  if (cipher == NULL) return throw_error(env, "ERR_AEAD_ALGORITHM", "unknown AEAD algorithm");
  if ((size_t)EVP_CIPHER_get_key_length(cipher) != key_length)
    return throw_error(env, "ERR_AEAD_KEY_LENGTH", "key length does not fit the algorithm");
  if (EVP_CIPHER_get_iv_length(cipher) != NONCE_LENGTH ||
      !(EVP_CIPHER_get_flags(cipher) & EVP_CIPH_FLAG_AEAD_CIPHER))
    return throw_error(env, "ERR_AEAD_ALGORITHM", "not an AEAD with a 12-byte nonce");

  aead_key *key = malloc(sizeof *key);
  if (key == NULL) return throw_error(env, "ERR_AEAD_MEMORY", "out of memory");
  key->ctx = EVP_CIPHER_CTX_new();
  key->encrypt = encrypt;
  if (key->ctx == NULL ||
      EVP_CipherInit_ex(key->ctx, cipher, NULL, key_bytes, NULL, encrypt ? 1 : 0) != 1) {
    EVP_CIPHER_CTX_free(key->ctx);
    free(key);
    return throw_error(env, "ERR_AEAD_INIT", "the cipher could not be keyed");
  }
  napi_value external;
  if (napi_create_external(env, key, free_key, NULL, &external) != napi_ok) {
    free_key(env, key, NULL);
    return throw_error(env, "ERR_AEAD_MEMORY", "could not wrap the key");
  }
  return external;
}

/** The key, nonce and additional data every call starts with, the nonce set in the context. */
static aead_key *start(napi_env env, napi_value *argv, int encrypt) {
  aead_key *key;
  unsigned char *nonce, *aad;
  size_t nonce_length, aad_length;
  int length;
  if (napi_get_value_external(env, argv[0], (void **)&key) != napi_ok || key->encrypt != encrypt) {
    throw_error(env, "ERR_AEAD_ARGUMENT", "not a key of this direction");
    return NULL;
  }
  if (!bytes_of(env, argv[1], &nonce, &nonce_length) || nonce_length != NONCE_LENGTH ||
      !bytes_of(env, argv[2], &aad, &aad_length)) {
    throw_error(env, "ERR_AEAD_ARGUMENT", "the nonce (12 bytes) and the additional data must be Uint8Arrays");
    return NULL;
  }
  if (EVP_CipherInit_ex(key->ctx, NULL, NULL, NULL, nonce, -1) != 1 ||
      (aad_length > 0 && EVP_CipherUpdate(key->ctx, NULL, &length, aad, (int)aad_length) != 1)) {
    throw_error(env, "ERR_AEAD_INIT", "the nonce or the additional data was refused");
    return NULL;
  }
  return key;
}

/**
 * seal(key, nonce, aad, input, trailer, out, offset): writes the ciphertext of input (then of the one
 * byte `trailer`, if it is 0-255: TLS 1.3's inner content type, RFC 8446 §5.2) into out at offset,
 * the 16-byte tag after it. Returns the offset after the tag. input may be the same bytes as the
 * ciphertext's place (sealed in place), not overlap it otherwise.
 */
static napi_value seal(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 7) return throw_error(env, "ERR_AEAD_ARGUMENT", "seal(key, nonce, aad, input, trailer, out, offset)");
  unsigned char *input, *out;
  size_t input_length, out_length;
  int64_t trailer, offset;
  if (!bytes_of(env, argv[3], &input, &input_length) || !bytes_of(env, argv[5], &out, &out_length) ||
      !int_of(env, argv[4], &trailer) || !int_of(env, argv[6], &offset))
    return throw_error(env, "ERR_AEAD_ARGUMENT", "seal(key, nonce, aad, input, trailer, out, offset)");
  size_t sealed = input_length + (trailer >= 0 && trailer <= 255 ? 1 : 0) + TAG_LENGTH;
  if (offset < 0 || (size_t)offset > out_length || out_length - (size_t)offset < sealed || input_length > 1 << 30)
    return throw_error(env, "ERR_AEAD_OUT_OF_RANGE", "the output has no room for the sealed record");
  aead_key *key = start(env, argv, 1);
  if (key == NULL) return NULL;
  unsigned char *at = out + offset;
  int length;
  int ok = EVP_CipherUpdate(key->ctx, at, &length, input, (int)input_length) == 1;
  at += input_length;
  if (ok && trailer >= 0 && trailer <= 255) {
    unsigned char byte = (unsigned char)trailer;
    ok = EVP_CipherUpdate(key->ctx, at, &length, &byte, 1) == 1;
    at += 1;
  }
  ok = ok && EVP_CipherFinal_ex(key->ctx, at, &length) == 1 &&
       EVP_CIPHER_CTX_ctrl(key->ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LENGTH, at) == 1;
  if (!ok) return throw_error(env, "ERR_AEAD_SEAL", "sealing failed");
  napi_value end;
  CALL(env, napi_create_int64(env, (int64_t)(at + TAG_LENGTH - out), &end));
  return end;
}

/**
 * open(key, nonce, aad, sealed, out): decrypts sealed (ciphertext then the 16-byte tag) into out (at
 * least the ciphertext's length). Returns whether the tag verified; out holds nothing to use if not.
 */
static napi_value open_sealed(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 5) return throw_error(env, "ERR_AEAD_ARGUMENT", "open(key, nonce, aad, sealed, out)");
  unsigned char *sealed, *out;
  size_t sealed_length, out_length;
  if (!bytes_of(env, argv[3], &sealed, &sealed_length) || !bytes_of(env, argv[4], &out, &out_length))
    return throw_error(env, "ERR_AEAD_ARGUMENT", "open(key, nonce, aad, sealed, out)");
  if (sealed_length < TAG_LENGTH || out_length < sealed_length - TAG_LENGTH || sealed_length > 1 << 30)
    return throw_error(env, "ERR_AEAD_OUT_OF_RANGE", "the output has no room for the plaintext");
  aead_key *key = start(env, argv, 0);
  if (key == NULL) return NULL;
  size_t text_length = sealed_length - TAG_LENGTH;
  int length;
  int ok = EVP_CipherUpdate(key->ctx, out, &length, sealed, (int)text_length) == 1 &&
           EVP_CIPHER_CTX_ctrl(key->ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LENGTH, sealed + text_length) == 1 &&
           EVP_CipherFinal_ex(key->ctx, out + text_length, &length) == 1;
  napi_value verified;
  CALL(env, napi_get_boolean(env, ok, &verified));
  return verified;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor methods[] = {
      {"createKey", NULL, create_key, NULL, NULL, NULL, napi_default, NULL},
      {"seal", NULL, seal, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, open_sealed, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods) != napi_ok) return NULL;
  return exports;
}
