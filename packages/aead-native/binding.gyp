{
  "targets": [
    {
      "target_name": "iotsafe_aead",
      "sources": ["src/aead.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
