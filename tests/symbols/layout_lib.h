// The shared library half of layout.c: a function in another image whose pcs must be named too.
void *layout_lib_call(void *(*here)(void));
