
.
xPlaceholder*
dtype0*
shape:

nEvil[31mOpx