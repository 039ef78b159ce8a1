/* sha256.h - SHA-256 (FIPS 180-4) for short inputs such as keys: names, never secrets' storage. */
#ifndef SEEKD_BASE_SHA256_H
#define SEEKD_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_SIZE 32

/** Writes the SHA-256 digest of data[0..len) into out. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_SIZE]);

#endif
