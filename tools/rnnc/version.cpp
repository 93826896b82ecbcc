// librnnc.so's own symbol: the version it was built as (the tool keys its binary cache on it).
extern "C" const char* rnnc_version() { return "0.1.0"; }
