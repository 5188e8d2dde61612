/*
 * tools/mpi.h - tfrecord-train's data-parallel ranks over MPI: the launch
 * (mpirun, srun), the rank-order sums of tfr_train_comm, and stopping every
 * rank when one fails.
 */
#ifndef TFR_TOOLS_MPI_H
#define TFR_TOOLS_MPI_H

#include <stddef.h>

#include "tfrecord/train.h"

/*
 * When this process was started by an MPI launcher (OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK in the environment), starts MPI and fills comm
 * (world > 1) or leaves world 1; otherwise fills rank 0 of 1 and starts
 * nothing. Returns -1 with why set when launched so in a build without MPI,
 * or when MPI does not start.
 */
int  tfr_mpi_start(int *argc, char ***argv, tfr_train_comm *comm, char *why, size_t n);
/* a one-line description of the transport ("OpenMPI 4.1.4"), or "" */
const char *tfr_mpi_name(void);
/* 1 when GPU ranks average on the device with NCCL (a build with it, and
 * TFR_NCCL not 0) */
int tfr_mpi_nccl(void);
/* rank failed: stop every rank now (MPI_Abort), exit status code */
void tfr_mpi_abort(int code);
/* the end of a good run */
void tfr_mpi_finish(void);

#endif
