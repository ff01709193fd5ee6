/*
 * deadline: the connection deadline registry and its thread (include/deadline.h).
 *
 * A doubly linked list under one mutex: adding, moving and removing are
 * O(1) on the pool threads; the thread scans the whole list every
 * DEADLINE_TICK_MS (tens of thousands of entries cost microseconds) rather
 * than keeping a heap, because deadlines move on every request.
 */
#include "deadline.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct deadline {
	struct deadline *prev, *next;
	int fd;
	int64_t at_ms;                     /* mono_ms; 0 = none */
};

struct deadlines {
	char name[8];
	pthread_mutex_t mu;
	pthread_cond_t cv;                 /* signalled at stop */
	pthread_t thread;
	bool stop;
	struct deadline *head;
};

static void *deadline_thread(void *arg)
{
	struct deadlines *ds = arg;
	struct timespec ts;

	pthread_mutex_lock(&ds->mu);
	while (!ds->stop) {
		int64_t now = mono_ms();
		for (struct deadline *d = ds->head; d != NULL; d = d->next) {
			if (d->at_ms == 0 || now < d->at_ms)
				continue;
			/* The daemon sees end of file / a reset and closes it itself. */
			if (shutdown(d->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
				log_debug("%s port: shutdown of a connection past its deadline: %s", ds->name,
				          strerror(errno));
			else
				log_debug("%s port: a connection missed its deadline; closed", ds->name);
			d->at_ms = 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += DEADLINE_TICK_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&ds->cv, &ds->mu, &ts);
	}
	pthread_mutex_unlock(&ds->mu);
	return NULL;
}

struct deadlines *deadlines_start(const char *name)
{
	struct deadlines *ds = xcalloc(1, sizeof *ds);
	pthread_condattr_t ca;
	int rc;

	strlcpy_(ds->name, name, sizeof ds->name);
	pthread_mutex_init(&ds->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ds->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&ds->thread, NULL, deadline_thread, ds);
	if (rc != 0) {
		log_error("%s port: cannot start the deadline thread: %s", name, strerror(rc));
		pthread_cond_destroy(&ds->cv);
		pthread_mutex_destroy(&ds->mu);
		free(ds);
		return NULL;
	}
	return ds;
}

void deadlines_stop(struct deadlines *ds)
{
	struct deadline *d, *next;

	if (ds == NULL)
		return;
	pthread_mutex_lock(&ds->mu);
	ds->stop = true;
	pthread_cond_signal(&ds->cv);
	pthread_mutex_unlock(&ds->mu);
	pthread_join(ds->thread, NULL);
	for (d = ds->head; d != NULL; d = next) {
		next = d->next;
		free(d);
	}
	pthread_cond_destroy(&ds->cv);
	pthread_mutex_destroy(&ds->mu);
	free(ds);
}

struct deadline *deadlines_add(struct deadlines *ds, int fd, int64_t at_ms)
{
	struct deadline *d = xcalloc(1, sizeof *d);

	d->fd = fd;
	d->at_ms = at_ms;
	pthread_mutex_lock(&ds->mu);
	d->next = ds->head;
	if (ds->head != NULL)
		ds->head->prev = d;
	ds->head = d;
	pthread_mutex_unlock(&ds->mu);
	return d;
}

void deadlines_set(struct deadlines *ds, struct deadline *d, int64_t at_ms)
{
	pthread_mutex_lock(&ds->mu);
	d->at_ms = at_ms;
	pthread_mutex_unlock(&ds->mu);
}

void deadlines_remove(struct deadlines *ds, struct deadline *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&ds->mu);
	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		ds->head = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	pthread_mutex_unlock(&ds->mu);
	free(d);
}
