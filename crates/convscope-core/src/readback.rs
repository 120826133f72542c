//! Reading tensors back to the host. The browser can only wait for a read-back, so the
//! orchestrators in this crate (a map, its faithfulness, the sanity check, a prediction)
//! are `async` and await [`read`]; native callers block on them with [`block`].

use burn::tensor::Tensor;
use burn_std::ExecutionError;

use crate::{Error, Result};

/// A tensor's values on the host, as `f32`, row-major.
pub async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let data = t.into_data_async().await.map_err(|e| match e {
        // Lost for good: every later operation on the device fails too.
        ExecutionError::DevicePoisoned { reason } => Error::DeviceLost(reason.lines().next().unwrap_or_default().trim().to_string()),
        e => Error::Readback(format!("{e:?}")),
    })?;
    data.try_to_vec::<f32>().map_err(|e| Error::Readback(format!("{e:?}")))
}

/// A tensor's values on the host now, where that costs no wait: on the CPU (burn's flex
/// backend, in the browser too) the values are already there. `None` on a device that would
/// have to be waited for (wgpu), where a caller should not stall its queue for them.
pub fn read_now<const D: usize>(t: Tensor<D>) -> Option<Vec<f32>> {
    if !matches!(t.device().inner().as_dispatch(), burn::backend::DispatchDevice::Flex(_)) {
        return None;
    }
    // Polled once, never blocked on (a browser cannot block): flex's read is ready at once.
    burn::tensor::try_read_sync(t.into_data_async())?.ok()?.convert::<f32>().try_into_vec::<f32>().ok()
}

/// Native only: run one of this crate's futures to its end on this thread (the CLI, the
/// benchmarks, the tests). On wgpu this waits for the device like a synchronous read-back.
#[cfg(not(target_arch = "wasm32"))]
pub fn block<F: std::future::Future>(f: F) -> F::Output {
    burn::tensor::read_sync(f)
}
