pub use mre_solver as solver;
pub use mre_io as io;
