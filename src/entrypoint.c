// R looks for R_init_hiermod; forwarding it to the Rust library's
// registration routine also keeps the linker from dropping that library.
void R_init_hiermod_extendr(void *dll);

void R_init_hiermod(void *dll) {
    R_init_hiermod_extendr(dll);
}
