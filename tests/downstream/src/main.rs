//! A pool round trip from a crate that depends on interp-core and
//! interp-pool by path.
use interp_core::Value;
use interp_pool::{Call, Pool};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder()
        .workers(2)
        .init_source("def square(x):\n    return x * x")
        .build()?;
    let task = pool.submit(Call::new("__main__", "square").arg(7))?;
    let result = task.wait()?;
    assert_eq!(result, Value::Int(49));
    println!("square(7) = {}", result.as_i64().unwrap());
    Ok(())
}
