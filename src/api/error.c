/* error.c - building and encoding DeepSeek's error envelope. */
#include "api/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json/jw.h"

int api_error_set(api_error_t *err, int status, const char *type, const char *code,
                  const char *param, const char *fmt, ...)
{
    err->status = status;
    err->type = type;
    err->code = code;
    err->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

int api_error_invalid(api_error_t *err, int status, const char *param, const char *fmt, ...)
{
    err->status = status;
    err->type = "invalid_request_error";
    err->code = "invalid_request_error";
    err->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

int api_error_encode(const api_error_t *err, buf_t *out)
{
    int rc = buf_puts(out, "{\"error\":{\"message\":");
    rc |= jw_str(out, err->message, strlen(err->message));
    rc |= buf_puts(out, ",\"type\":");
    rc |= jw_cstr_or_null(out, err->type);
    rc |= buf_puts(out, ",\"param\":");
    rc |= jw_cstr_or_null(out, err->param);
    rc |= buf_puts(out, ",\"code\":");
    rc |= jw_cstr_or_null(out, err->code);
    rc |= buf_puts(out, "}}");
    return rc ? BUF_ETOOBIG : 0;
}

const char *api_http_error_body(int status, const char *message, buf_t *out)
{
    api_error_t err;
    api_error_invalid(&err, status, NULL, "%s", message);
    api_error_encode(&err, out);
    return "application/json";
}
