//! Setting global variables in a spec before load.

use crate::spec::{CollectionSpec, MapInit};

/// Errors from [`CollectionSpec::set_variable`].
#[derive(Debug, thiserror::Error)]
pub enum VariableError {
    /// No global variable has that name.
    #[error("no global variable {0:?} in the object (see `oxbpf inspect`)")]
    NotFound(String),
    /// The value's size does not match the variable's type.
    #[error("global variable {name:?} is {want} bytes, got {got}")]
    Size {
        /// Variable name.
        name: String,
        /// Size from BTF (or the symbol).
        want: u32,
        /// Size given.
        got: usize,
    },
    /// The variable lives in a section whose contents cannot be set (e.g. `.kconfig`).
    #[error("global variable {name:?} is in {map:?}, which has no initial data to set")]
    NotSettable {
        /// Variable name.
        name: String,
        /// Section map.
        map: String,
    },
}

impl CollectionSpec {
    /// Sets a global variable's initial value (`.data`, `.rodata`, `.bss`...) before load.
    /// The value must have the variable's exact size, checked against its BTF type when known.
    pub fn set_variable(&mut self, name: &str, value: &[u8]) -> Result<(), VariableError> {
        let var = self
            .variables
            .get(name)
            .ok_or_else(|| VariableError::NotFound(name.into()))?;
        let want = match (&self.btf, var.type_id) {
            (Some(btf), Some(id)) => btf.resolve_size(id).unwrap_or(var.size),
            _ => var.size,
        };
        if value.len() != want as usize {
            return Err(VariableError::Size {
                name: name.into(),
                want,
                got: value.len(),
            });
        }
        let not_settable = || VariableError::NotSettable {
            name: name.into(),
            map: var.map.clone(),
        };
        let map = self.maps.get_mut(&var.map).ok_or_else(not_settable)?;
        let MapInit::Data(data) = &mut map.init else {
            return Err(not_settable());
        };
        let start = var.offset as usize;
        let slot = data
            .get_mut(start..start + value.len())
            .ok_or_else(not_settable)?;
        slot.copy_from_slice(value);
        Ok(())
    }
}
