/*
 * server: the daemon's life: start-up order, the signal loop (which also
 * drives the store sweeper), privilege drop and the orderly stop.
 */
#ifndef MNMFA_SERVER_H
#define MNMFA_SERVER_H

struct app;

#define SWEEP_INTERVAL_MS 500

/* Runs `mnmfa serve` with app->cfg loaded; returns the exit code. */
int server_run(struct app *app);

#endif
