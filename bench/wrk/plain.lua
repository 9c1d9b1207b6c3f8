-- A fixed request (wrk's own, from the command line): only the report hook.
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
