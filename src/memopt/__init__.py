"""memopt: the shared library of the companion book on memory, information and optimization.

The book's chapters import from the subpackages: ``memopt.problems`` (objectives and data),
``memopt.optim`` (algorithms), ``memopt.experiments`` (one module per chapter),
``memopt.claims`` (numerical checks of the papers' statements) and ``memopt.backend``
(NumPy by default, CuPy on a GPU). Nothing heavy is imported here.
"""

__version__ = "0.1.0"
