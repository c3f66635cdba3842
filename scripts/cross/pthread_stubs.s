# pthread_join and pthread_detach for Debian's wasi-libc (2022), which lacks them while std's
# test harness on wasm32-wasip1 links them. Tests there run on one thread, so neither is ever
# reached with a real thread: both report ENOSYS (52 in WASI's errno numbering).
	.text

	.globl	pthread_detach
	.type	pthread_detach,@function
pthread_detach:
	.functype	pthread_detach (i32) -> (i32)
	i32.const	52
	end_function

	.globl	pthread_join
	.type	pthread_join,@function
pthread_join:
	.functype	pthread_join (i32, i32) -> (i32)
	i32.const	52
	end_function
