
.
xPlaceholder*
dtype0*
shape:

negNegx*	
T
0