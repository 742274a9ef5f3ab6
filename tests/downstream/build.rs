fn main() { println!("cargo:rustc-link-arg={}", std::env::var("DEP_INTERP_SYS_LINK_ARG").expect("interp-sys in [dependencies]")); }
