/*
 * tools/mpi.c - tfrecord-train's data-parallel ranks over MPI.
 *
 * The sums are rank-ordered: each chunk of every rank's values is gathered
 * on every rank (MPI_Allgather) and added in rank order there, so all
 * ranks get the same bits and a rerun with the same world size the same
 * result, whatever algorithm MPI_Allreduce would pick. That moves world x
 * the data of a ring all-reduce, which is what exact reproducibility costs;
 * the gradient of the fmnist model is a few hundred KB.
 *
 * Faults: MPI errors are returned (MPI_ERRORS_RETURN), not fatal, so the
 * failing rank names itself and calls MPI_Abort, which stops the others. A
 * rank that dies is noticed by the launcher, which stops the job. A rank
 * that hangs is caught by a watchdog: a collective that has not finished
 * after TFR_MPI_TIMEOUT seconds (default 600) aborts the job, naming the
 * rank that waited (it exits, and the launcher ends the job).
 */
#include "mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TFR_HAVE_MPI
#include <mpi.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"

static int started, my_rank, my_world;
static char name[MPI_MAX_LIBRARY_VERSION_STRING];
static volatile double busy_since; /* when the running collective began; 0 = none */
static double timeout_s = 600;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        sleep(1);
        double b = busy_since;
        if (b > 0 && now() - b > timeout_s) {
            fprintf(stderr, "tfrecord-train: rank %d of %d: a collective has waited %.0f s "
                            "(TFR_MPI_TIMEOUT) for the other ranks: stopping the job\n",
                    my_rank, my_world, now() - b);
            /* not MPI_Abort: the main thread is inside MPI; a rank that exits
             * without MPI_Finalize makes the launcher end the job */
            _exit(3);
        }
    }
    return NULL;
}

static tfr_status mpi_fail(int rc, const char *what, tfr_error *err)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return tfr_fail(err, TFR_ERR_IO, NULL, "rank %d of %d: %s failed: %.*s", my_rank, my_world,
                    what, len, msg);
}

#define CHUNK 262144 /* values per gather: world x 1 MB of floats at most */

static tfr_status sum_f32(void *user, float *data, size_t n, tfr_error *err)
{
    (void)user;
    float *all = tfr_malloc(sizeof(float) * CHUNK * (size_t)my_world);
    if (!all)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for the gradient sum");
    tfr_status st = TFR_OK;
    for (size_t off = 0; off < n && !st; off += CHUNK) {
        int c = (int)(n - off < CHUNK ? n - off : CHUNK);
        busy_since = now();
        int rc = MPI_Allgather(data + off, c, MPI_FLOAT, all, c, MPI_FLOAT, MPI_COMM_WORLD);
        busy_since = 0;
        if (rc != MPI_SUCCESS) {
            st = mpi_fail(rc, "MPI_Allgather of the gradients", err);
            break;
        }
        for (int i = 0; i < c; i++) {
            float s = all[i];
            for (int r = 1; r < my_world; r++)
                s += all[(size_t)r * c + i];
            data[off + i] = s;
        }
    }
    free(all);
    return st;
}

/* any n, in gathers of at most 4096 values (the epoch's counts, the
 * evaluation's sums and its confusion matrix) */
static tfr_status sum_f64(void *user, double *data, size_t n, tfr_error *err)
{
    (void)user;
    enum { PER = 4096 };
    const size_t per = n < PER ? n : PER;
    double small[64 * 64];
    double *buf = per * (size_t)my_world <= sizeof small / sizeof *small
                      ? small
                      : tfr_malloc(sizeof(double) * per * (size_t)my_world);
    if (!buf)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    tfr_status st = TFR_OK;
    for (size_t off = 0; off < n && !st; off += per) {
        const int c = (int)(n - off < per ? n - off : per);
        busy_since = now();
        int rc = MPI_Allgather(data + off, c, MPI_DOUBLE, buf, c, MPI_DOUBLE, MPI_COMM_WORLD);
        busy_since = 0;
        if (rc != MPI_SUCCESS) {
            st = mpi_fail(rc, "MPI_Allgather", err);
            break;
        }
        for (int i = 0; i < c; i++) {
            double v = buf[i];
            for (int r = 1; r < my_world; r++)
                v += buf[(size_t)r * c + i];
            data[off + i] = v;
        }
    }
    if (buf != small)
        free(buf);
    return st;
}

int tfr_mpi_start(int *argc, char ***argv, tfr_train_comm *comm, char *why, size_t n)
{
    memset(comm, 0, sizeof *comm);
    comm->world = 1;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
        return 0;
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) {
        snprintf(why, n, "MPI_Init failed (%d)", rc);
        return -1;
    }
    started = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &my_world);
    int len = 0;
    MPI_Get_library_version(name, &len);
    name[strcspn(name, ",\n")] = 0;
    const char *t = getenv("TFR_MPI_TIMEOUT");
    if (t && atof(t) > 0)
        timeout_s = atof(t);
    pthread_t th;
    if (my_world > 1 && pthread_create(&th, NULL, watchdog, NULL) == 0)
        pthread_detach(th);
    comm->rank = my_rank;
    comm->world = my_world;
    comm->sum_f32 = sum_f32;
    comm->sum_f64 = sum_f64;
    return 0;
}

const char *tfr_mpi_name(void) { return started ? name : ""; }

void tfr_mpi_abort(int code)
{
    if (started && my_world > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
}

void tfr_mpi_finish(void)
{
    if (started)
        MPI_Finalize();
    started = 0;
}

#else /* a build without MPI */

int tfr_mpi_start(int *argc, char ***argv, tfr_train_comm *comm, char *why, size_t n)
{
    (void)argc;
    (void)argv;
    memset(comm, 0, sizeof *comm);
    comm->world = 1;
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (!size)
        size = getenv("PMI_SIZE");
    if (size && atoi(size) > 1) {
        snprintf(why, n, "started by an MPI launcher (%s processes), but this build has no MPI: "
                         "install libopenmpi-dev and rebuild", size);
        return -1;
    }
    return 0;
}

const char *tfr_mpi_name(void) { return ""; }
void tfr_mpi_abort(int code) { (void)code; }
void tfr_mpi_finish(void) {}

#endif
