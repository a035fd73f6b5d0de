// Open MPI for Swift: mpi.h, and inline functions for what it defines as macros over
// global objects (MPI_COMM_WORLD, the datatypes, MPI_SUM, …), which Swift cannot import.
#include <mpi.h>

static inline MPI_Comm soma_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype soma_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype soma_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype soma_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype soma_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype soma_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op soma_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Errhandler soma_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int soma_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int soma_mpi_success(void) { return MPI_SUCCESS; }
static inline int soma_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int soma_mpi_init(void) {
    int provided = 0;
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
}
static inline void *soma_mpi_in_place(void) { return MPI_IN_PLACE; }
