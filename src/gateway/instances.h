/* instances.h - servers sharing one accounts database. Each has an id and records every second
 * that it is alive (store_instance_beat); each hold names the server that made it. The holds of
 * a server silent for its lease are released by whichever server looks. */
#ifndef SEEKD_GATEWAY_INSTANCES_H
#define SEEKD_GATEWAY_INSTANCES_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/** A new id for this server: its host name (for people reading the table) and 64 random bits. */
void gw_instance_id(char out[STORE_INSTANCE_LEN + 1]);

/** Releases, in one transaction, every hold whose server is gone: silent since before
 * now_ms - lease_ms, or none recorded (an older seekd made it). `self`'s holds and those of
 * live servers are never touched. Each release is logged. Returns 0, or -1 with err set. */
int gw_release_orphans(store_t *s, const char *self, int64_t lease_ms, int64_t now_ms, char *err,
                       size_t errlen);

#endif
