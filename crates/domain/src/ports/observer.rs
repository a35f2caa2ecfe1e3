/// Told when the engine has stored the end of an operation (succeeded or failed), so a front
/// door that follows its resources (the operator) can look at them at once instead of polling.
/// Called on the engine's task: it must return quickly (send on a channel, say) and never block.
/// Only operations this process's engine finished are seen; another replica's are not.
pub trait OperationObserver: Send + Sync {
    fn operation_ended(&self, operation: &crate::operation::Operation);
}
