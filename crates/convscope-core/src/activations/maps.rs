//! Feature maps of chosen channels, cut out on the device.

use burn::tensor::{Int, Tensor, TensorData};

use crate::{Error, Result, Value};

/// `(channels, height, width)` of a layer's maps; a flat layer has one-unit maps.
pub fn map_dims(value: &Value) -> (usize, usize, usize) {
    match value {
        Value::Spatial(t) => {
            let [_, c, h, w] = t.dims();
            (c, h, w)
        }
        Value::Flat(t) => (t.dims()[1], 1, 1),
    }
}

/// The maps of `channels` (in that order) for the first image of the batch.
///
/// # Shapes
/// `value`: `[batch, C, H, W]` or `[batch, C]`; returns `[channels.len(), H, W]`
pub fn channel_maps(value: &Value, channels: &[usize]) -> Result<Tensor<3>> {
    let (c, h, w) = map_dims(value);
    if let Some(bad) = channels.iter().find(|&&i| i >= c) {
        return Err(Error::BadInput(format!("channel {bad} does not exist; this layer has channels 0..{}", c.saturating_sub(1))));
    }
    let first: Tensor<2> = value.clone().flatten().narrow(0, 0, 1);
    let planes = first.reshape([c, h * w]);
    let index: Vec<i32> = channels.iter().map(|&i| i as i32).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(index, [channels.len()]), &planes.device());
    Ok(planes.select(0, index).reshape([channels.len(), h, w]))
}
