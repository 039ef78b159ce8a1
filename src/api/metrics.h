/* metrics.h - what GET /metrics shows, in Prometheus' text format: requests by route, model and
 * status; tokens by kind; spend by currency; holds in flight; estimates; limit refusals; the
 * upstream keys' states; histograms of the upstream's time to first byte and of the whole
 * request. Every label is bounded: routes and statuses are few, a model is named only once it
 * has been served (errors before that count under model="-"), and the series stop at a cap
 * (then model="other"). Counters only grow; they are kept on the loop thread. */
#ifndef SEEKD_API_METRICS_H
#define SEEKD_API_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/event.h"
#include "base/buf.h"
#include "gateway/limiter.h"
#include "gateway/money.h"

typedef struct api_metrics api_metrics_t;

api_metrics_t *api_metrics_new(void);
void api_metrics_free(api_metrics_t *m);

/** One chat/FIM request ended. ttft_s < 0: no answer byte came. u may be NULL. */
void api_metrics_request(api_metrics_t *m, const char *route, const char *model, int status,
                         double duration_s, double ttft_s, const bk_usage_t *u);

/** A metered request was billed (estimated: counted by seekd, no usage report). */
void api_metrics_spend(api_metrics_t *m, gw_currency_t c, gw_nano_t cost, bool estimated);

/** A metered request was refused by a limit: "rpm", "tpm", "concurrency" or "balance". */
void api_metrics_refused(api_metrics_t *m, const char *limit);

/** Holds in flight, up or down by one. */
void api_metrics_holds(api_metrics_t *m, int delta);

/** Appends the whole exposition, but for the upstream keys (the caller adds those). */
int api_metrics_write(const api_metrics_t *m, buf_t *out);

/** Appends the per-key limits' state: whether Redis answers (when the limits are shared) and
 * how many admissions this process decided alone. */
int api_metrics_write_limiter(const gw_limiter_stats_t *st, buf_t *out);

/** Appends s as a label value: backslash, double quote and newline escaped. */
int api_metrics_label(buf_t *out, const char *s);

#endif
