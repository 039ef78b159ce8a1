/* store_pg.c - the store on PostgreSQL (not built yet). */
#include "store/store_int.h"

store_t *store_pg_open(const char *url, char *err, size_t errlen)
{
    (void)url;
    snprintf(err, errlen, "PostgreSQL stores are not built yet; use sqlite:PATH");
    return NULL;
}
