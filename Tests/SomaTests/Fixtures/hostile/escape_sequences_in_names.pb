
.
xPlaceholder*
dtype0*
shape:
&
evil[2K]0;ownedNegx*
T0