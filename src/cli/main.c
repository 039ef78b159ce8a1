/* main.c - placeholder entry point; the CLI lands with the server. */
#include <stdio.h>

int main(void)
{
    puts("seekd " SEEKD_VERSION);
    return 0;
}
