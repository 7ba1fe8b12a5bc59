pub use mre_io as io;
pub use mre_solver as solver;
