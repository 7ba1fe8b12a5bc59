pub use mre_inverse as inverse;
pub use mre_io as io;
pub use mre_solver as solver;
