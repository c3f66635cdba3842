//! One model per thread: generated models are `Send` and `Sync`, and two of them running at
//! once in two threads give what they give alone. Two models in one crate (both doors compile
//! every fixture into the same crate) do not clash: this crate builds.

use mobilenet_door_tests::build_door::M0;
use mobilenet_door_tests::macro_door::M3;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn models_are_send_and_sync() {
    assert_send_sync::<M0>();
    assert_send_sync::<M3>();
    assert_send_sync::<M0<&'static mut [f32]>>();
}

#[test]
fn two_models_in_two_threads() {
    let input =
        |k: usize, len: usize| -> Vec<f32> { (0..len).map(|i| ((i * 31 + k * 7) % 97) as f32 / 97.0 - 0.5).collect() };
    let (a_in, b_in) = (input(1, M0::INPUT_LEN), input(2, M3::INPUT_LEN));
    let a_alone = M0::new().run_slice(&a_in).unwrap().to_vec();
    let b_alone = M3::new().run_slice(&b_in).unwrap().to_vec();
    for _ in 0..3 {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                let mut m = M0::new();
                (0..20).map(|_| m.run_slice(&a_in).unwrap().to_vec()).last().unwrap()
            });
            let b = s.spawn(|| {
                let mut m = M3::new();
                (0..20).map(|_| m.run_slice(&b_in).unwrap().to_vec()).last().unwrap()
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(a, a_alone);
        assert_eq!(b, b_alone);
    }
    // A model moved to another thread keeps working there.
    let mut m = M0::new();
    let first = m.run_slice(&a_in).unwrap().to_vec();
    let moved = std::thread::spawn(move || m.run_slice(&a_in).unwrap().to_vec()).join().unwrap();
    assert_eq!(first, moved);
}
