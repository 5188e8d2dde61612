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
 *
 * GPU ranks (a build with NCCL, and the model on a CUDA device): the
 * gradients and batch-norm statistics are averaged on the device by NCCL's
 * all-reduce (ncclAvg), queued on the training stream behind the backward
 * pass; the NCCL communicator is made on the first step from a unique id
 * that rank 0 broadcasts over MPI. The wait for it is bounded: a peer's
 * failure (ncclCommGetAsyncError) or TFR_MPI_TIMEOUT seconds end it with
 * an error naming the rank, and the communicator is aborted. NCCL's sum
 * is not the rank-ordered one: every rank gets the same bits, and reruns
 * match while NCCL picks the same algorithm and protocol (NCCL_ALGO,
 * NCCL_PROTO pin them); TFR_NCCL=0 takes the rank-ordered host sums
 * instead (bit for bit --replicas, at the cost of a copy to the host).
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

#ifdef TFR_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

static int started, my_rank, my_world, my_local;
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

/*
 * data[0..n) summed over the ranks in rank order, in place: each chunk of
 * every rank's values gathered everywhere (MPI_Allgather), then added rank
 * 0 first. f64: doubles (the epoch's counts, the evaluation's sums and
 * confusion matrix), else floats (the gradients).
 */
static tfr_status gather_sum(void *data, size_t n, int f64, const char *what, tfr_error *err)
{
    const size_t el = f64 ? sizeof(double) : sizeof(float);
    const size_t per = n < CHUNK ? n : CHUNK;
    void *all = tfr_malloc(el * (per ? per : 1) * (size_t)my_world);
    if (!all)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for the sum of %s", what);
    tfr_status st = TFR_OK;
    for (size_t off = 0; off < n && !st; off += per) {
        const int c = (int)(n - off < per ? n - off : per);
        busy_since = now();
        int rc = MPI_Allgather((char *)data + off * el, c, f64 ? MPI_DOUBLE : MPI_FLOAT, all, c,
                               f64 ? MPI_DOUBLE : MPI_FLOAT, MPI_COMM_WORLD);
        busy_since = 0;
        if (rc != MPI_SUCCESS) {
            char call[96];
            snprintf(call, sizeof call, "MPI_Allgather of %s", what);
            st = mpi_fail(rc, call, err);
            break;
        }
        for (int i = 0; i < c; i++) {
            if (f64) {
                const double *g = all;
                double v = g[i];
                for (int r = 1; r < my_world; r++)
                    v += g[(size_t)r * c + i];
                ((double *)data)[off + i] = v;
            } else {
                const float *g = all;
                float v = g[i];
                for (int r = 1; r < my_world; r++)
                    v += g[(size_t)r * c + i];
                ((float *)data)[off + i] = v;
            }
        }
    }
    free(all);
    return st;
}

static tfr_status sum_f32(void *user, float *data, size_t n, tfr_error *err)
{
    (void)user;
    return gather_sum(data, n, 0, "the gradients", err);
}

static tfr_status sum_f64(void *user, double *data, size_t n, tfr_error *err)
{
    (void)user;
    return gather_sum(data, n, 1, "the epoch's sums", err);
}

#ifdef TFR_HAVE_NCCL
static ncclComm_t nccl;
/* the all-reduces run on their own stream, each behind an event of the
 * training stream, so that a bucket's overlaps the rest of the backward
 * pass; the training stream waits for the last before the SGD step */
static cudaStream_t nccl_stream;
static cudaEvent_t  nccl_ev;

static tfr_status nccl_fail(ncclResult_t r, const char *what, tfr_error *err)
{
    const char *last = nccl ? ncclGetLastError(nccl) : NULL;
    return tfr_fail(err, TFR_ERR_IO, NULL, "rank %d of %d: NCCL %s failed: %s%s%s", my_rank,
                    my_world, what, ncclGetErrorString(r), last && *last ? ": " : "",
                    last ? last : "");
}

/* the communicator, from rank 0's unique id (the device is current) */
static tfr_status nccl_start(tfr_error *err)
{
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    ncclResult_t r = ncclSuccess;
    if (my_rank == 0 && (r = ncclGetUniqueId(&id)) != ncclSuccess)
        return nccl_fail(r, "ncclGetUniqueId", err); /* the others are stopped by MPI_Abort */
    busy_since = now();
    int rc = MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        busy_since = 0;
        return mpi_fail(rc, "MPI_Bcast of the NCCL id", err);
    }
    r = ncclCommInitRank(&nccl, my_world, id, my_rank); /* the watchdog bounds it */
    busy_since = 0;
    if (r != ncclSuccess) {
        nccl = NULL;
        return nccl_fail(r, "ncclCommInitRank", err);
    }
    cudaError_t e;
    if ((e = cudaStreamCreateWithFlags(&nccl_stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaEventCreateWithFlags(&nccl_ev, cudaEventDisableTiming)) != cudaSuccess)
        return tfr_fail(err, TFR_ERR_IO, NULL, "rank %d of %d: the all-reduce stream: %s",
                        my_rank, my_world, cudaGetErrorString(e));
    return TFR_OK;
}

/* the NCCL stream behind the work queued on s so far */
static tfr_status nccl_after(cudaStream_t s, tfr_error *err)
{
    cudaError_t e;
    if ((e = cudaEventRecord(nccl_ev, s)) != cudaSuccess ||
        (e = cudaStreamWaitEvent(nccl_stream, nccl_ev, 0)) != cudaSuccess)
        return tfr_fail(err, TFR_ERR_IO, NULL, "rank %d of %d: ordering the all-reduce: %s",
                        my_rank, my_world, cudaGetErrorString(e));
    return TFR_OK;
}

/* a bucket of gradients, finished on s: its mean starts on the NCCL stream */
static tfr_status nccl_bucket(void *user, float *g, size_t n, void *stream, tfr_error *err)
{
    (void)user;
    tfr_status st;
    if ((!nccl && (st = nccl_start(err))) || (st = nccl_after((cudaStream_t)stream, err)))
        return st;
    ncclResult_t r = ncclAllReduce(g, g, n, ncclFloat, ncclAvg, nccl, nccl_stream);
    return r == ncclSuccess ? TFR_OK : nccl_fail(r, "ncclAllReduce", err);
}

static tfr_status nccl_mean(void *user, float *a, size_t na, float *b, size_t nb, void *stream,
                            tfr_error *err)
{
    (void)user;
    tfr_status st;
    cudaStream_t s = (cudaStream_t)stream;
    if ((!nccl && (st = nccl_start(err))) || (st = nccl_after(s, err)))
        return st;
    ncclResult_t r;
    if ((r = ncclGroupStart()) != ncclSuccess)
        return nccl_fail(r, "ncclGroupStart", err);
    ncclResult_t ra = na ? ncclAllReduce(a, a, na, ncclFloat, ncclAvg, nccl, nccl_stream)
                         : ncclSuccess;
    ncclResult_t rb = nb ? ncclAllReduce(b, b, nb, ncclFloat, ncclAvg, nccl, nccl_stream)
                         : ncclSuccess;
    r = ncclGroupEnd();
    if (ra != ncclSuccess || rb != ncclSuccess || r != ncclSuccess)
        return nccl_fail(ra != ncclSuccess ? ra : rb != ncclSuccess ? rb : r, "ncclAllReduce",
                         err);
    /* the SGD step (on s) behind every mean */
    cudaError_t e;
    if ((e = cudaEventRecord(nccl_ev, nccl_stream)) != cudaSuccess ||
        (e = cudaStreamWaitEvent(s, nccl_ev, 0)) != cudaSuccess)
        return tfr_fail(err, TFR_ERR_IO, NULL, "rank %d of %d: ordering the SGD step: %s",
                        my_rank, my_world, cudaGetErrorString(e));
    /* done, a peer failed, or the timeout: never an endless wait */
    const double t0 = now();
    for (;;) {
        cudaError_t q = cudaStreamQuery(nccl_stream);
        if (q == cudaSuccess)
            return TFR_OK;
        if (q != cudaErrorNotReady)
            return tfr_fail(err, TFR_ERR_IO, NULL, "rank %d of %d: the all-reduce's stream: %s",
                            my_rank, my_world, cudaGetErrorString(q));
        ncclResult_t ae = ncclSuccess;
        ncclCommGetAsyncError(nccl, &ae);
        if (ae != ncclSuccess && ae != ncclInProgress) {
            st = nccl_fail(ae, "all-reduce (a rank failed or left)", err);
            ncclCommAbort(nccl);
            nccl = NULL;
            return st;
        }
        if (now() - t0 > timeout_s) {
            ncclCommAbort(nccl);
            nccl = NULL;
            return tfr_fail(err, TFR_ERR_IO, NULL,
                            "rank %d of %d: the NCCL all-reduce has waited %.0f s "
                            "(TFR_MPI_TIMEOUT) for the other ranks",
                            my_rank, my_world, now() - t0);
        }
        usleep(20);
    }
}
#endif

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
    /* the rank among this machine's: which GPU it takes */
    MPI_Comm node;
    my_local = 0;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, my_rank, MPI_INFO_NULL,
                            &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &my_local);
        MPI_Comm_free(&node);
    }
    comm->rank = my_rank;
    comm->world = my_world;
    comm->local_rank = my_local;
    comm->sum_f32 = sum_f32;
    comm->sum_f64 = sum_f64;
#ifdef TFR_HAVE_NCCL
    const char *use = getenv("TFR_NCCL");
    if (!use || strcmp(use, "0")) {
        comm->mean_dev_f32 = nccl_mean;
        comm->mean_dev_start = nccl_bucket;
        const char *mb = getenv("TFR_BUCKET_MB"); /* a bucket's least size, MB */
        /* 1 MB .. 1 TB: beyond it the conversion to size_t is undefined */
        if (mb && atof(mb) > 0 && atof(mb) <= 1048576.0)
            comm->bucket_floats = (size_t)(atof(mb) * (1 << 20) / sizeof(float));
    }
#endif
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

int tfr_mpi_nccl(void)
{
#ifdef TFR_HAVE_NCCL
    const char *use = getenv("TFR_NCCL");
    return !use || strcmp(use, "0");
#else
    return 0;
#endif
}

void tfr_mpi_finish(void)
{
#ifdef TFR_HAVE_NCCL
    if (nccl) {
        cudaStreamSynchronize(nccl_stream);
        ncclCommDestroy(nccl);
        cudaEventDestroy(nccl_ev);
        cudaStreamDestroy(nccl_stream);
    }
    nccl = NULL;
#endif
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
int tfr_mpi_nccl(void) { return 0; }
void tfr_mpi_abort(int code) { (void)code; }
void tfr_mpi_finish(void) {}

#endif
