use recur::ops::{MatMut, MatRef, add_colsum, gemm, gemm_bias};
use std::time::Instant;
fn main() {
    let rows = 62;
    let g = 96;
    let src: Vec<f32> = (0..rows * g).map(|i| (i % 7) as f32).collect();
    let mut dst = vec![0f32; g];
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..10000 {
            add_colsum(&mut dst, std::hint::black_box(&src));
        }
        println!("colsum [62x96]: {:.3} us", t.elapsed().as_secs_f64() / 10000.0 * 1e6);
    }
    let tb = 1240;
    let x: Vec<f32> = (0..tb).map(|i| (i % 2) as f32).collect();
    let w: Vec<f32> = (0..g).map(|i| i as f32 * 0.01).collect();
    let bias = vec![0.5f32; g];
    let mut gates = vec![0f32; tb * g];
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..1000 {
            gemm_bias(MatRef::new(&x, tb, 1), MatRef::new(&w, 1, g), &bias, MatMut::new(&mut gates, tb, g));
        }
        println!("proj [1240x1]x[1x96]+b: {:.3} us", t.elapsed().as_secs_f64() / 1000.0 * 1e6);
    }
    let mut dw = vec![0f32; g];
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..1000 {
            gemm(
                1.0,
                MatRef::new(&gates, tb, g).t(),
                MatRef::new(&x, tb, 1),
                0.0,
                MatMut::new(&mut dw, g, 1),
            );
        }
        println!("dW_ih [96x1240]x[1240x1]: {:.3} us", t.elapsed().as_secs_f64() / 1000.0 * 1e6);
    }
}
