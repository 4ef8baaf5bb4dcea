/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Guest helper for the benchmark: vmi-threads N starts N threads (the main
 * one included) that sleep until killed, prints "vmi-threads: N" and waits. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *sleeper(void *arg) {
        (void) arg;
        for (;;)
                pause();
        return NULL;
}

int main(int argc, char **argv) {
        int n = argc > 1 ? atoi(argv[1]) : 1, made = 1;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 64 * 1024);
        for (int i = 1; i < n; i++) {
                pthread_t t;
                if (pthread_create(&t, &a, sleeper, NULL) != 0)
                        break;
                made++;
        }
        printf("vmi-threads: %d\n", made);
        fflush(stdout);
        for (;;)
                pause();
}
