use recur::bench::{configs, run};
fn main() {
    let which: usize = std::env::args().nth(1).map_or(0, |s| s.parse().unwrap());
    let sizes: Vec<usize> = std::env::args().skip(2).map(|s| s.parse().unwrap()).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        for rep in 0..3 {
            for &b in &sizes {
                let mut c = configs()[which].clone();
                c.batch = b;
                let r = run(&c, 1, 1.0).unwrap();
                println!(
                    "rep {rep} batch {b:5}: {:.3} ms/step, {:.3} ms per 1000 rows",
                    r.ms_per_step,
                    r.ms_per_step * 1000.0 / b as f64
                );
            }
        }
    });
}
