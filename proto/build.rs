//! Compiles `proto/kaohe/v1/*.proto` without a system `protoc`: `protox`
//! parses the files into a `FileDescriptorSet`, `tonic-prost-build`
//! generates messages, clients and servers into `OUT_DIR/kaohe.v1.rs`.

use std::error::Error;

const FILES: &[&str] = &[
    "proto/kaohe/v1/common.proto",
    "proto/kaohe/v1/envelope.proto",
    "proto/kaohe/v1/receipt.proto",
    "proto/kaohe/v1/submission.proto",
    "proto/kaohe/v1/pack.proto",
    "proto/kaohe/v1/unit.proto",
    "proto/kaohe/v1/result.proto",
    "proto/kaohe/v1/log.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    for file in FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    let fds = protox::compile(FILES, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
