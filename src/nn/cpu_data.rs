//! The data behind CPU storages, for training's custom operations.

use candle_core::{CpuStorage, Layout, Result, WithDType};

/// A storage and its layout, as custom operations receive them.
pub(crate) type Data<'a> = (&'a CpuStorage, &'a Layout);

/// The elements of a contiguous storage as `T`: an error if the layout is not contiguous
/// or the storage holds another dtype.
pub(crate) fn slice<'a, T: WithDType>((storage, layout): Data<'a>) -> Result<&'a [T]> {
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg("custom operations need contiguous inputs".into())
    })?;
    Ok(&storage.as_slice::<T>()?[start..end])
}
